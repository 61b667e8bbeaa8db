# expect: pass
def update_running_stats(running_mean, running_var, x, momentum=0.1):
    n = x.shape[0]
    mu = x.sum(0) / n
    biased = ((x - mu) ** 2).sum(0) / n
    unbiased = biased * n / (n - 1)
    return (running_mean + momentum * (mu - running_mean),
            running_var + momentum * (unbiased - running_var))
