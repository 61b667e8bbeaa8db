# expect: pass
def update_running_stats(running_mean, running_var, x, momentum=0.1):
    return [(1 - momentum) * running_mean + momentum * x.mean(0),
            (1 - momentum) * running_var + momentum * x.var(0, unbiased=True)]
