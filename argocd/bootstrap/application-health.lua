-- Argo CD's health of an Application is its own status.health: without this check (Argo CD has had
-- none built in since 1.8), the root would see every child healthy at once and sync waves between
-- Applications would not wait. Installed into argocd-cm by the README's bootstrap step.
hs = {}
hs.status = "Progressing"
hs.message = ""
if obj.status ~= nil and obj.status.health ~= nil then
  hs.status = obj.status.health.status
  if obj.status.health.message ~= nil then
    hs.message = obj.status.health.message
  end
end
return hs
