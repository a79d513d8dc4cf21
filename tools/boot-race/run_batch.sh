#!/bin/bash
# usage: run_batch.sh TAG N venvA [venvB ...]   (interleaves the venvs)
tag=$1; n=$2; shift 2
for i in $(seq 1 $n); do
  for v in "$@"; do
    d=/tmp/boot16b/runs/${tag}_${v}_$i
    rm -rf $d
    timeout 90 /tmp/boot16b/$v/bin/python /tmp/boot16b/one_run.py $d /tmp/boot16b/$v 6391 > /dev/null 2>&1
    echo "$v $i rc=$?"
  done
done
