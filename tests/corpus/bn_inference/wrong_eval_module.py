# expect: fail: normalization built-in
def batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5):
    layer = nn.BatchNorm1d(x.shape[1], eps=eps).eval()
    with torch.no_grad():
        layer.running_mean.copy_(running_mean); layer.running_var.copy_(running_var)
        layer.weight.copy_(gamma); layer.bias.copy_(beta)
        return layer(x)
