#!/bin/bash
# BeforeInstall: stands for the AMI or user data, which left a file where Install copies (not from a deployment).
set -e
mkdir -p "${REHEARSAL_ROOT:-}/opt/demo/app"
echo "print('left by the AMI')" > "${REHEARSAL_ROOT:-}/opt/demo/app/server.py"
