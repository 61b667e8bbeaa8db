# expect: pass
def train_epoch(model, loader, optimizer, loss_fn):
    # Zero first, then again after every step, so nothing carries over.
    model.train()
    optimizer.zero_grad()
    batch_losses = []
    for inputs, targets in loader:
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        batch_losses.append(loss.item())
    return sum(batch_losses) / len(batch_losses)
