//! One focused test per model rule, each a small scenario whose outcome the cited rule predicts.
