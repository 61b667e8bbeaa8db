# expect: fail: changed the tensor it was given
def saturated_fraction(activations, threshold=0.97):
    values = activations.detach()   # shares memory with activations
    values.abs_()
    return (values > threshold).float().mean().item()
