# expect: fail: returned the batch statistics themselves
def update_running_stats(running_mean, running_var, x, momentum=0.1):
    return x.mean(0), x.var(0)
