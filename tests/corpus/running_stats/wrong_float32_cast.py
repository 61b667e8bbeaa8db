# expect: fail: keep the inputs' dtype
def update_running_stats(running_mean, running_var, x, momentum=0.1):
    x = x.float()
    return ((1 - momentum) * running_mean.float() + momentum * x.mean(0),
            (1 - momentum) * running_var.float() + momentum * x.var(0))
