# expect: pass
def train_epoch(model, loader, optimizer, loss_fn):
    model.train()
    losses = []
    for batch in loader:
        x, y = batch
        model.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return np.mean(losses)
