# expect: pass
def saturated_fraction(activations, threshold=0.97):
    values = activations.detach().cpu().numpy()
    return float(np.mean(np.abs(values) > threshold))
