# expect: fail: normalization built-in
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    # reaching past torch.nn.functional to the kernel itself
    y, _, _ = torch.ops.aten.native_batch_norm(x, gamma, beta, None, None, True, 0.1, eps)
    return y
