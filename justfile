# Conveniences only: every recipe is a plain command you can run without just.

# Run the shipped scenarios (the main job).
run:
    cargo run --release -- run

# Every test: Rust, then Python.
test:
    ./run-tests

# What CI runs.
ci:
    bash .ci/run

# Accept changed insta snapshots after reviewing them.
snapshots:
    INSTA_UPDATE=always cargo test

# The engine and exploration benchmarks (divan).
bench:
    cargo bench --bench engine
