# expect: pass
def batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5):
    # one feature at a time, running statistics as (1, D) rows
    mean, var = running_mean.view(1, -1), running_var.view(1, -1)
    y = torch.empty_like(x)
    for j in range(x.shape[1]):
        y[:, j] = gamma[j] * (x[:, j] - mean[0, j]) / torch.sqrt(var[0, j] + eps) + beta[j]
    return y
