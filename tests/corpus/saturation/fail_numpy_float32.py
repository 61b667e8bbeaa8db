# expect: fail: returned a NumPy float32
def saturated_fraction(activations, threshold=0.97):
    values = activations.detach().cpu().float().numpy()
    return (np.abs(values) > threshold).astype(np.float32).mean()
