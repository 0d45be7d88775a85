-- Success rate per département, weighted by the number of exams of each centre.
select departement,
       count(*) as centres,
       sum(exams) as exams,
       round(cast(sum(passed) as real) / sum(exams), 4) as success_rate
from centre_rates
group by departement
order by departement
