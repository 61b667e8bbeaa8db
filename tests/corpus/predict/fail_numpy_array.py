# expect: fail: returned a NumPy array
def predict(model, x):
    saved = [(m, m.training) for m in model.modules()]
    model.eval()
    with torch.no_grad():
        out = model(x).cpu().numpy()
    for m, flag in saved:
        m.training = flag
    return out
