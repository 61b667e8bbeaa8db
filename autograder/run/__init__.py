"""Where learner code runs: the sandbox, limits, the fork server, the notebook kernel and the evidence step."""
