#!/bin/bash
echo installing dependencies
