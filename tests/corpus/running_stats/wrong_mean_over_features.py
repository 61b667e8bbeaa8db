# expect: fail: raised RuntimeError: The size of tensor a (3) must match
def update_running_stats(running_mean, running_var, x, momentum=0.1):
    return ((1 - momentum) * running_mean + momentum * x.mean(1),
            (1 - momentum) * running_var + momentum * x.var(1))
