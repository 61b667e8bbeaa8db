# expect: fail: raised RuntimeError
def saturated_fraction(activations, threshold=0.97):
    return (activations.abs() > threshold).mean().item()
