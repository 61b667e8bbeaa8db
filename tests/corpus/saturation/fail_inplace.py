# expect: fail: changed the tensor it was given
def saturated_fraction(activations, threshold=0.97):
    with torch.no_grad():
        activations.abs_()
    return (activations > threshold).float().mean().item()
