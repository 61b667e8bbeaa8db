# expect: fail: requires_grad=True raised RuntimeError
def saturated_fraction(activations, threshold=0.97):
    values = activations.cpu().numpy()
    return float((np.abs(values) > threshold).mean())
