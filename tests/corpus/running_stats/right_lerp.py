# expect: pass
def update_running_stats(running_mean, running_var, x, momentum=0.1):
    # torch.lerp(a, b, w) = a + w * (b - a) = (1 - w) * a + w * b
    var, mean = torch.var_mean(x, dim=0, correction=1)
    return torch.lerp(running_mean, mean, momentum), torch.lerp(running_var, var, momentum)
