-- Keeps the centres whose success rate is abnormal for their département.
local out = output{"centre_id:utf8", "departement:utf8", "commune:utf8", "rate:float64",
                   "zscore:float64"}
for row in input:rows() do
  if row.anomaly then
    out:append{centre_id = row.centre_id, departement = row.departement,
               commune = row.adr_commune, rate = row.rate, zscore = row.zscore}
    warn(string.format("centre %s (%s): rate %.2f, robust z %.1f", row.centre_id,
                       row.departement, row.rate, row.zscore))
  end
end
