# expect: fail: this batch's own mean and variance
running_mean = torch.zeros(4)
running_var = torch.ones(4)

def batchnorm_forward(x, gamma, beta, eps=1e-5):
    # normalizes with the (initial) running statistics instead of the batch's
    d = x.shape[1]
    x_hat = (x - running_mean[:d]) / torch.sqrt(running_var[:d] + eps)
    return gamma * x_hat + beta
