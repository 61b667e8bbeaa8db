# expect: fail: returned the old running statistics unchanged
def update_running_stats(running_mean, running_var, x, momentum=0.1):
    new_mean, new_var = running_mean.clone(), running_var.clone()
    batch_mean, batch_var = x.mean(0), x.var(0)
    new_mean * (1 - momentum) + momentum * batch_mean        # computed, but never kept
    new_var * (1 - momentum) + momentum * batch_var
    return new_mean, new_var
