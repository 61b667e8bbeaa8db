# expect: fail: return a pair
def update_running_stats(running_mean, running_var, x, momentum=0.1):
    return {"running_mean": (1 - momentum) * running_mean + momentum * x.mean(0),
            "running_var": (1 - momentum) * running_var + momentum * x.var(0)}
