# expect: pass
def update_running_stats(running_mean, running_var, x, momentum=0.1):
    n = x.shape[0]
    s1, s2 = x.sum(0), (x * x).sum(0)
    mean = s1 / n
    var = (s2 - n * mean * mean) / (n - 1)
    return momentum * mean + (1 - momentum) * running_mean, momentum * var + (1 - momentum) * running_var
