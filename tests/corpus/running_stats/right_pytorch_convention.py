# expect: pass
def update_running_stats(running_mean, running_var, x, momentum=0.1):
    batch_mean = x.mean(dim=0)
    batch_var = x.var(dim=0, unbiased=True)
    new_mean = (1 - momentum) * running_mean + momentum * batch_mean
    new_var = (1 - momentum) * running_var + momentum * batch_var
    return new_mean, new_var
