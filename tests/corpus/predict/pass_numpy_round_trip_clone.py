# expect: pass
def predict(model, x):
    saved = [(m, m.training) for m in model.modules()]
    model.eval()
    with torch.no_grad():
        out = model(x).cpu().numpy()
    for m, flag in saved:
        m.train(flag)
    return torch.from_numpy(out.copy()).to(x.device)
