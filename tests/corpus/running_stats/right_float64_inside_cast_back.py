# expect: pass
def update_running_stats(running_mean, running_var, x, momentum=0.1):
    x64 = x.double()
    mean = (1 - momentum) * running_mean.double() + momentum * x64.mean(0)
    var = (1 - momentum) * running_var.double() + momentum * x64.var(0, correction=1)
    return mean.to(running_mean.dtype), var.to(running_var.dtype)
