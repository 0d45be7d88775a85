-- Success rate per exam centre, from the collected counts.
local out = output{"centre_id:utf8", "departement:utf8", "adresse:utf8", "candidates:int64",
                   "rate:float64"}
local n = 0
for row in input:rows() do
  if row.candidates == nil or row.candidates <= 0 then
    error("centre " .. tostring(row.centre_id) .. " has no candidates")
  end
  out:append{centre_id = row.centre_id, departement = row.departement, adresse = row.adresse,
             candidates = row.candidates, rate = row.passed / row.candidates}
  n = n + 1
end
log("rates for " .. n .. " centres")
