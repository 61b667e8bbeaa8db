# expect: fail: a mean taken in float16
def saturated_fraction(activations, threshold=0.97):
    mask = activations.abs() > threshold
    return mask.to(activations.dtype).mean().item()
