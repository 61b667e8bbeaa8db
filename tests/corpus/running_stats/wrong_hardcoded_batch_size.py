# expect: fail: nn.BatchNorm1d gives
def update_running_stats(running_mean, running_var, x, momentum=0.1):
    # right on the visible batches of 16 rows only: N - 1 is written in
    mean = x.mean(0)
    var = ((x - mean) ** 2).sum(0) / 15
    return (1 - momentum) * running_mean + momentum * mean, (1 - momentum) * running_var + momentum * var
