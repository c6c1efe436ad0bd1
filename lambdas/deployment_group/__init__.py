"""Custom resource: the EC2 blue/green CodeDeploy deployment group, which CloudFormation cannot declare.

See docs/decisions.md F1.
"""
