# expect: pass
from collections import namedtuple

RunningStats = namedtuple("RunningStats", ["mean", "var"])

def update_running_stats(running_mean, running_var, x, momentum=0.1):
    var, mean = torch.var_mean(x, dim=0)        # correction=1 by default: unbiased
    return RunningStats(running_mean + momentum * (mean - running_mean),
                        running_var + momentum * (var - running_var))
