# expect: fail: requires_grad=True raised RuntimeError
def saturated_fraction(activations, threshold=0.97):
    activations.clamp_(-1.0, 1.0)   # no change of value, but in place
    return (activations.abs() > threshold).float().mean().item()
