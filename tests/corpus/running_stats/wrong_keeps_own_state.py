# expect: fail: nn.BatchNorm1d gives
_running = {}

def update_running_stats(running_mean, running_var, x, momentum=0.1):
    # keeps its own running statistics between calls instead of starting from the ones it is given
    mean, var = _running.get(x.shape[1], (running_mean, running_var))
    mean = (1 - momentum) * mean + momentum * x.mean(0)
    var = (1 - momentum) * var + momentum * x.var(0)
    _running[x.shape[1]] = (mean, var)
    return mean, var
