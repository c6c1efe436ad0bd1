#!/bin/bash
# Saved on Windows: every line ends with CR LF.
set -e
echo "before install"
