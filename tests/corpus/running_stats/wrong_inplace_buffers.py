# expect: fail: changed its input running_mean in place
def update_running_stats(running_mean, running_var, x, momentum=0.1):
    running_mean.mul_(1 - momentum).add_(momentum * x.mean(0))
    running_var.mul_(1 - momentum).add_(momentum * x.var(0))
    return running_mean, running_var
