# expect: fail: in the wrong order
def update_running_stats(running_mean, running_var, x, momentum=0.1):
    var, mean = torch.var_mean(x, dim=0)         # var_mean returns (var, mean): easy to mix up
    new_var = (1 - momentum) * running_var + momentum * var
    new_mean = (1 - momentum) * running_mean + momentum * mean
    return new_var, new_mean
