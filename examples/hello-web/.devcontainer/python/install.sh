#!/bin/sh
set -e
echo "Installing python3 (requested version: ${VERSION})"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends python3 python3-pip
rm -rf /var/lib/apt/lists/*
