#!/bin/bash
# usage: run_batch.sh TAG N VARIANT venv...   (interleaves venvs)
tag=$1; n=$2; var=$3; shift 3
for i in $(seq 1 $n); do
  for v in "$@"; do
    d=/tmp/soft09/runs/${tag}_${var}_${v}_$i
    rm -rf $d
    timeout 90 /tmp/boot16b/$v/bin/python /tmp/soft09/one_run.py $d /tmp/boot16b/$v 6392 $var > $d.out 2>&1
    echo "$var $v $i rc=$?"
  done
done
