# expect: fail: with the biased batch variance
def update_running_stats(running_mean, running_var, x, momentum=0.1):
    mean = x.mean(dim=0)
    var = ((x - mean) ** 2).mean(dim=0)      # the variance used for normalizing
    return (1 - momentum) * running_mean + momentum * mean, (1 - momentum) * running_var + momentum * var
