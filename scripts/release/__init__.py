"""The release tool behind `scripts/deploy.py`: bundle, validate, upload and release a CodeDeploy revision."""
