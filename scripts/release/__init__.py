"""The release tool behind `scripts/deploy.py`: bundle, validate, upload and release a CodeDeploy revision.

One home per concern (the shared settings, output names and traffic-timing model come from `bluegreen`):

* `cli`: the command line, the environment read once (`ci.CiContext`), the AWS clients built once, exit codes.
* `errors`: every error the tool expects and its exit code.
* `targets`: where to release (stack outputs or flags); `OUTPUTS_READ` names every output it reads.
* `appspec`, `bundle`: the revision's validation and its reproducible zip; `upload`: the bucket check and the upload.
* `deployments`: every CodeDeploy call; `follow`: polling a deployment; `timeout`: the default deployment timeout.
* `slots`: the two Auto Scaling groups; `orchestrate`: the `Release` command object that runs the steps.
* `live`: which slot is live (the deployment group checked against the target group); `bootstrap`: the first
  release, in place through the stack's bootstrap group.
* `operations`: `status`, `stop` and the revision `rollback` goes back to.
* `record`, `report`, `timeline`, `views`: what a run did and how it is shown; `estimate`: how long each phase
  should take (the release-time model) and may take; `runtime`: clock, sleep, signals.
* `rehearse`: the revision's lifecycle on this machine, without AWS.
"""
