# expect: fail: changed its input x in place
def update_running_stats(running_mean, running_var, x, momentum=0.1):
    mean = x.mean(0)
    x -= mean                                    # centre in place: the caller's batch changes
    var = (x * x).sum(0) / (x.shape[0] - 1)
    return (1 - momentum) * running_mean + momentum * mean, (1 - momentum) * running_var + momentum * var
