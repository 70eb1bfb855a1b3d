#!/bin/sh
# Prints a greeting for each argument, then what the build left behind.
for who in "$@"; do
  echo "$GREETING_DEFAULT, $who!"
done
echo "running as $(id -u) in $(pwd)"
cat /opt/app/build-info.txt
