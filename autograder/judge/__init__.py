"""The trusted side: plain-data evidence in, a verdict and a diagnosis out; never imports or runs learner code."""
