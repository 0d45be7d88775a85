-- Scalar functions for formula steps (`functions: recipes/labels.lua`): each
-- global function defined here can be called in the recipe's expressions.

-- How abnormal a centre is for its département, from its robust z-score.
function severity(z)
  if z == nil then return nil end
  local a = math.abs(z)
  if a >= 6 then
    return "critical"
  elseif a >= 3.5 then
    return "high"
  end
  return "normal"
end

-- "MARSEILLE" -> "Marseille", "SAINT-DENIS" -> "Saint-Denis".
function title_case(s)
  if s == nil then return nil end
  return (s:lower():gsub("(%a)(%w*)", function(first, rest) return first:upper() .. rest end))
end
