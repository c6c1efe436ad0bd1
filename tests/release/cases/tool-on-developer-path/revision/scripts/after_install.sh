#!/bin/bash
# AfterInstall: calls a process manager the developer installed under their home directory.
set -e
pm2 --version
